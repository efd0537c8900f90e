from django.urls import path

from inventory import views

app_name = "site"

urlpatterns = [
    path("", views.home, name="home"),
]
