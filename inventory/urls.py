from django.urls import path

from inventory import review_views, views

app_name = "site"

urlpatterns = [
    path("", views.home, name="home"),
    path("items/", views.item_list, name="item_list"),
    path("items/<int:pk>/", views.item_detail, name="item_detail"),
    path("items/<int:pk>/book/", views.book, name="book"),
    path("items/<int:pk>/reviews/", review_views.item_reviews, name="item_reviews"),
    path("reservations/", views.reservation_list, name="reservation_list"),
    path("reservations/<int:pk>/", views.reservation_detail, name="reservation_detail"),
    path("reservations/<int:pk>/cancel/", views.reservation_cancel, name="reservation_cancel"),
    path("reservations/<int:pk>/review/", review_views.review_write, name="review_write"),
    path("reviews/", review_views.my_reviews, name="my_reviews"),
]
