from django.urls import path

from plans import views

app_name = "plans"

urlpatterns = [
    path("", views.plan_list, name="list"),
    path("<int:pk>/join/", views.subscribe, name="subscribe"),
    path("mine/", views.mine, name="mine"),
    path("mine/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("mine/<int:pk>/change/", views.change, name="change"),
]
