from django.urls import path

from tickets import views

app_name = "tickets"

urlpatterns = [
    path("mypage/tickets/", views.wallet, name="wallet"),
]
