from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from tickets.models import MemberTicket


@login_required
def wallet(request):
    tickets = MemberTicket.objects.filter(member=request.user).select_related("ticket_type")
    return render(request, "site/tickets/wallet.html", {"tickets": tickets})
