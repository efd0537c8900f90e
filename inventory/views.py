from django.shortcuts import render

from inventory.models import Store


def home(request):
    stores = Store.objects.filter(is_public=True)
    return render(request, "site/inventory/home.html", {"stores": stores})
