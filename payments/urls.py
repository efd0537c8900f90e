from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("orders/", views.order_list, name="order_list"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("orders/<int:pk>/receipt/", views.order_receipt, name="order_receipt"),
    path("orders/<int:pk>/pay/", views.checkout, name="checkout"),
    path("orders/<int:pk>/pay/cancelled/", views.checkout_cancelled, name="checkout_cancelled"),
    path("orders/<int:pk>/test-gateway/", views.test_gateway_result, name="test_gateway_result"),
    path("pay/<str:token>/", views.pay_link, name="pay_link"),
    path("pay/<str:token>/test-gateway/", views.pay_link_test_gateway, name="pay_link_test_gateway"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
]
