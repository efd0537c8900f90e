from django.urls import path

from tickets import views

app_name = "tickets"

urlpatterns = [
    path("", views.ticket_list, name="list"),
    path("<int:pk>/", views.ticket_type_detail, name="detail"),
    path("<int:pk>/buy/", views.buy, name="buy"),
    path("mine/", views.wallet, name="wallet"),
    path("mine/<int:pk>/", views.ticket_detail, name="ticket_detail"),
]
