from django.urls import path

from members import views

app_name = "members"

urlpatterns = [
    path("signup/", views.sign_up, name="sign_up"),
    path("signup/sent/", views.sign_up_done, name="sign_up_done"),
    path("verify/<str:uidb64>/<str:token>/", views.verify_email, name="verify_email"),
    path("verify/resend/", views.resend_verification, name="resend_verification"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("mypage/", views.mypage, name="mypage"),
    path("mypage/profile/", views.profile_edit, name="profile_edit"),
]
