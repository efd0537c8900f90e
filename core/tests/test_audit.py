"""The audit trail: audit_log's rule, entries that cannot be edited, the audit list for staff, each
object's 履歴 page, and the admin's own form edits recorded."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from core.audit import audit_log
from core.models import AuditEntry
from inventory.models import Item
from inventory.services import reservation_cancel, reservation_create
from inventory.tests.factories import ItemFactory, ReservationSettingsFactory, StoreFactory, jst
from inventory.tests.test_admin import form_data
from members.tests.factories import MemberFactory
from tickets.models import TicketType
from tickets.tests.factories import TicketTypeFactory

pytestmark = pytest.mark.django_db

MONDAY = date(2027, 6, 7)
NOW = jst(date(2027, 6, 1), "09:00")
AUDIT_LIST = reverse("admin:core_auditentry_changelist")


def staff(*perms: str, **fields):
    user = MemberFactory(is_staff=True, **fields)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def auditor(client, **fields):
    user = staff("core.view_auditentry", **fields)
    client.force_login(user)
    return user


def in_english(client):
    """Pages render in Japanese unless the visitor chose a language (core.middleware.ShopLocaleMiddleware)."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def book(member, *, by=None):
    ReservationSettingsFactory(min_minutes=30, time_step_minutes=30, cancel_deadline_minutes=60)
    return reservation_create(
        member=member,
        by=by or member,
        item=ItemFactory(),
        starts_at=jst(MONDAY, "10:00"),
        ends_at=jst(MONDAY, "11:00"),
        payment_method="free",
        now=NOW,
    )


# --- audit_log ----------------------------------------------------------------------------------------------


def test_a_change_made_by_nobody_must_name_its_system_job():
    # given an object
    store = StoreFactory()
    # when nobody acted and no job is named, then nothing is written
    with pytest.raises(ValueError, match="system"):
        audit_log(action="store.touched", obj=store, by=None)
    assert not AuditEntry.objects.exists()
    # when the job is named, the entry records it and no actor
    entry = audit_log(action="store.touched", obj=store, by=None, system="nightly", payload={"n": 1})
    assert (entry.actor, entry.system, entry.object_id, entry.payload) == (
        None,
        "nightly",
        str(store.pk),
        {"n": 1},
    )


def test_an_entry_names_the_actor_and_drops_the_job_name_when_someone_acted():
    actor = MemberFactory()
    entry = audit_log(action="store.touched", obj=StoreFactory(), by=actor, system="ignored")
    assert (entry.actor, entry.system) == (actor, "")


def test_entries_can_be_neither_updated_nor_deleted_even_in_bulk():
    # given an entry
    entry = audit_log(action="store.touched", obj=StoreFactory(), by=None, system="nightly")
    # when anyone tries to change or delete it, then the database refuses
    for attempt in (
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(action="store.hidden"),
        lambda: AuditEntry.objects.filter(pk=entry.pk).delete(),
        lambda: entry.delete(),
    ):
        with pytest.raises(DatabaseError, match="never edited or deleted"), transaction.atomic():
            attempt()
    entry.refresh_from_db()
    assert entry.action == "store.touched"


# --- the audit list -----------------------------------------------------------------------------------------


def test_staff_without_the_permission_get_403_and_nobody_adds_changes_or_deletes(client, admin_client):
    # given an entry
    entry = audit_log(action="store.touched", obj=StoreFactory(), by=None, system="nightly")
    # when staff without core.view_auditentry open the list, then it is refused
    client.force_login(staff("inventory.view_item"))
    assert client.get(AUDIT_LIST).status_code == 403
    assert client.get(reverse("admin:core_auditentry_change", args=[entry.pk])).status_code == 403
    # when a superuser tries to add, edit or delete, then there is no way to
    assert admin_client.get(AUDIT_LIST).status_code == 200
    assert admin_client.get(reverse("admin:core_auditentry_add")).status_code == 403
    assert admin_client.get(reverse("admin:core_auditentry_delete", args=[entry.pk])).status_code == 403
    page = admin_client.get(reverse("admin:core_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert 'name="_save"' not in page.content.decode()
    response = admin_client.post(
        AUDIT_LIST, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(entry.pk)], "post": "yes"}
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    assert response.status_code in (200, 302)


def test_the_list_filters_by_actor_action_object_type_and_period(client):
    # given entries by a staff member, a member and a job, on two kinds of object and two days
    viewer = auditor(client)
    clerk, member = (
        MemberFactory(is_staff=True, email="clerk@example.com"),
        MemberFactory(email="m@example.com"),
    )
    store, item = StoreFactory(name="本店"), ItemFactory(name="テント")
    by_clerk = audit_log(action="store.renamed", obj=store, by=clerk, now=jst(date(2027, 6, 1), "10:00"))
    by_member = audit_log(action="item.liked", obj=item, by=member, now=jst(date(2027, 6, 2), "10:00"))
    by_job = audit_log(
        action="item.expired", obj=item, by=None, system="nightly", now=jst(date(2027, 6, 3), "00:30")
    )

    def shown(**params) -> set[int]:
        response = client.get(AUDIT_LIST, params)
        assert response.status_code == 200
        return {entry.pk for entry in response.context["cl"].result_list}

    # then each filter keeps exactly its entries
    assert shown() == {by_clerk.pk, by_member.pk, by_job.pk}
    assert shown(actor_kind="staff") == {by_clerk.pk}
    assert shown(actor_kind="member") == {by_member.pk}
    assert shown(actor_kind="system") == {by_job.pk}
    assert shown(staff=clerk.pk) == {by_clerk.pk}
    assert shown(system="nightly") == {by_job.pk}
    assert shown(action="item.liked") == {by_member.pk}
    assert shown(content_type__id__exact=by_member.content_type_id) == {by_member.pk, by_job.pk}
    assert shown(**{"from": "2027-06-02", "to": "2027-06-02"}) == {by_member.pk}
    assert shown(**{"from": "2027-06-02"}) == {by_member.pk, by_job.pk}  # 00:30 JST on the 3rd is the 3rd
    assert shown(**{"to": "2027-06-01"}) == {by_clerk.pk}
    assert shown(created_at__year=2027, created_at__month=6, created_at__day=3) == {by_job.pk}
    assert shown(q="m@example.com") == {by_member.pk}
    assert shown(q="本店") == {by_clerk.pk}
    assert shown(content_type__id__exact=by_member.content_type_id, object_id=item.pk) == {
        by_member.pk,
        by_job.pk,
    }
    # and the page links the object, says who acted and shows what changed
    page = in_english(client).get(AUDIT_LIST).content.decode()
    assert reverse("admin:inventory_item_change", args=[item.pk]) in page
    assert "Staff: " in page
    assert "clerk@example.com" in page
    assert "System: nightly" in page
    assert viewer.email not in page  # the viewer did nothing


def test_the_list_keeps_its_query_count_from_5_to_50_entries(client, django_assert_max_num_queries):
    # given five entries by different staff and members on different objects, and a warmed-up page
    auditor(client)

    def add(count: int) -> None:
        for n in range(count):
            actor = MemberFactory(is_staff=bool(n % 2))
            obj = StoreFactory() if n % 3 else ItemFactory()
            audit_log(
                action=f"thing.done{n % 4}", obj=obj, by=actor, payload={"changes": {"name": ["a", "b"]}}
            )

    add(5)
    client.get(AUDIT_LIST)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as five:
        assert client.get(AUDIT_LIST).status_code == 200
    # when there are 50
    add(45)
    # then the page makes no more queries
    with django_assert_max_num_queries(len(five.captured_queries)):
        response = client.get(AUDIT_LIST)
    assert len(response.context["cl"].result_list) == 50


# --- each object's history ----------------------------------------------------------------------------------


def test_a_reservations_history_shows_who_did_what_newest_first(admin_client):
    # given a reservation booked by its member and cancelled by staff
    member = MemberFactory(name="予約 花子", email="hanako@example.com")
    clerk = MemberFactory(is_staff=True, name="店員 太郎", email="taro@example.com")
    reservation = book(member)
    reservation_cancel(
        reservation=reservation, by=clerk, as_staff=True, reason="店舗都合", now=NOW + timedelta(hours=1)
    )
    # when staff open its history
    response = in_english(admin_client).get(
        reverse("admin:inventory_reservation_history", args=[reservation.pk])
    )
    # then both entries are there, newest first, with who acted and what changed
    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("reservation.cancelled") < page.index("reservation.created")
    assert "Staff: 店員 太郎 (taro@example.com)" in page
    assert "Member: 予約 花子 (hanako@example.com)" in page
    assert "店舗都合" in page
    assert "confirmed → cancelled" in page
    assert page.count("data-audit-action=") == 2


def test_an_items_history_shows_an_admin_edit_with_the_staff_user_and_the_fields(client):
    # given staff who may change items
    editor = staff("inventory.view_item", "inventory.change_item", name="編集 次郎", email="jiro@example.com")
    client.force_login(editor)
    item = ItemFactory(name="旧名")
    change_url = reverse("admin:inventory_item_change", args=[item.pk])
    # when they rename the item through its admin form
    data = form_data(client.get(change_url))
    data["name"] = "新名"
    data["_save"] = "Save"
    response = client.post(change_url, data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else None
    )
    # then one entry records it, by them, with the change message
    entry = AuditEntry.objects.get(object_id=str(item.pk), content_type__model="item")
    assert (entry.action, entry.actor) == ("inventory.item.changed", editor)
    assert entry.payload["change_message"][0]["changed"]["fields"]
    # and the item's history page shows it
    page = in_english(client).get(reverse("admin:inventory_item_history", args=[item.pk])).content.decode()
    assert "inventory.item.changed" in page
    assert "Staff: 編集 次郎 (jiro@example.com)" in page
    assert "Changed" in page


def test_deleting_several_items_in_the_admin_records_each(admin_client):
    # given two items (Django logs a multi-object deletion with bulk_create: no post_save)
    items = [ItemFactory(), ItemFactory()]
    # when staff delete both with the list's action
    admin_client.post(
        reverse("admin:inventory_item_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(i.pk) for i in items], "post": "yes"},
    )
    # then each deletion is in the trail
    assert not Item.objects.filter(pk__in=[i.pk for i in items]).exists()
    deleted = AuditEntry.objects.filter(action="inventory.item.deleted")
    assert sorted(deleted.values_list("object_id", flat=True)) == sorted(str(i.pk) for i in items)


def test_an_admin_save_through_an_audited_service_is_recorded_once(admin_client):
    # given a ticket type, saved in the admin through tickets.services.ticket_type_save
    kind = TicketTypeFactory(name="回数券", uses=5)
    url = reverse("admin:tickets_tickettype_change", args=[kind.pk])
    data = form_data(admin_client.get(url))
    data["uses"] = "10"
    # when staff save a change
    assert admin_client.post(url, data).status_code == 302
    # then the service's entry (with old → new) is the only one: the admin's LogEntry adds none
    entries = AuditEntry.objects.filter(object_id=str(kind.pk), content_type__model="tickettype")
    assert list(entries.values_list("action", flat=True)) == ["ticket_type.changed"]
    assert entries.get().payload["changes"]["uses"] == [5, 10]
    assert TicketType.objects.get(pk=kind.pk).uses == 10


def test_the_history_page_keeps_its_query_count_as_entries_grow(admin_client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    store = StoreFactory()
    url = reverse("admin:inventory_store_history", args=[store.pk])
    for n in range(3):
        audit_log(
            action="store.touched", obj=store, by=MemberFactory(is_staff=bool(n % 2)), now=timezone.now()
        )
    admin_client.get(url)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    for n in range(30):
        audit_log(
            action="store.touched", obj=store, by=MemberFactory(is_staff=bool(n % 2)), now=timezone.now()
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(url)
    assert response.content.decode().count('data-audit-action="store.touched"') == 33
