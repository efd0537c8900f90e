"""The CSV import writes its rows in batches (services.TicketTypeBatch): the same rules as a single save,
across batch boundaries, a constant number of queries per batch, and race-safe against other writers
(tests on real threads with their own PostgreSQL connections)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from inventory.tests.factories import ItemFactory
from payments.models import Product
from tests.parallel import run_together
from tickets import services
from tickets.csv_jobs import import_ticket_types
from tickets.models import TicketType
from tickets.services import TicketTypeBatch, TicketTypeChange
from tickets.tests.factories import ProductFactory, TicketTypeFactory
from tickets.tests.test_csv import csv_bytes, row


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def batches_of_2(monkeypatch):
    """Batches of 2 rows; yields the size of each batch checked, to show the rows really were split."""
    monkeypatch.setattr(services.ticket_types, "BATCH_SIZE", 2)
    sizes = []
    check = TicketTypeBatch._check

    def counted(self, batch):
        sizes.append(len(batch))
        return check(self, batch)

    monkeypatch.setattr(TicketTypeBatch, "_check", counted)
    return sizes


@pytest.mark.django_db
def test_a_product_taken_in_an_earlier_batch_is_refused_by_line_in_a_dry_run_and_a_real_run(batches_of_2):
    # given: lines 2 and 6 (batches 1 and 3) both take the product
    ProductFactory(sku="P1")
    data = csv_bytes(
        [
            row(sku="P1", name="一"),
            row(name="二"),
            row(name="三"),
            row(name="四"),
            row(sku="P1", name="五"),
        ]
    )

    # when
    dry = import_ticket_types(data, dry_run=True)
    nothing_written = TicketType.objects.count()
    real = import_ticket_types(data, dry_run=False)

    # then
    assert batches_of_2 == [2, 2, 1, 2, 2, 1]  # the dry run's three batches, then the real run's
    assert nothing_written == 0
    for result in (dry, real):
        assert [error.line for error in result.errors] == [6]
        assert "Line 2 of this file already uses this product." in result.errors[0].message
        assert result.created == 4
    assert TicketType.objects.get(product__sku="P1").name == "一"
    assert TicketType.objects.count() == 4


@pytest.mark.django_db
def test_every_rule_holds_in_every_batch_and_a_bad_row_leaves_its_batch_mates_written(batches_of_2):
    # given: one bad row in each of three batches
    monthly = ProductFactory(sku="MONTHLY", kind="monthly")
    paid = ProductFactory(sku="PAID", price_yen=1000)
    fixed = TicketTypeFactory(name="商品あり")
    data = csv_bytes(
        [
            row(name="良い1"),
            row(sku=monthly.sku, name="月額商品"),  # only one-time products
            row(sku=paid.sku, kind="体験チケット(無料)", uses="1", name="有料商品で無料体験"),
            row(name="良い2"),
            row(ticket_id=fixed.pk, sku=ProductFactory(sku="OTHER").sku, name="商品変更"),
            row(name="良い3", concurrent="3"),
        ]
    )

    # when
    result = import_ticket_types(data, dry_run=False)

    # then
    assert batches_of_2 == [2, 2, 2]
    messages = {error.line: error.message for error in result.errors}
    assert set(messages) == {3, 4, 6}
    assert "Only a one-time product" in messages[3]
    assert "A free trial ticket needs a product that costs 0 yen." in messages[4]
    assert "cannot be changed once it is set" in messages[6]
    assert result.created == 3
    assert set(TicketType.objects.values_list("name", flat=True)) == {"商品あり", "良い1", "良い2", "良い3"}
    assert TicketType.objects.get(pk=fixed.pk).name == "商品あり"


@pytest.mark.django_db
def test_an_update_writes_every_changed_column_its_items_and_updated_at():
    # given
    yoga, pilates = ItemFactory(), ItemFactory()
    ticket = TicketTypeFactory(name="前", uses=5, items=[yoga])
    untouched = TicketTypeFactory(name="別", items=[yoga])
    before = ticket.updated_at

    # when
    result = import_ticket_types(
        csv_bytes(
            [
                row(
                    ticket_id=ticket.pk,
                    sku=ticket.product.sku,
                    name="後",
                    uses="8",
                    concurrent="2",
                    per_day="1",
                    purchases="3",
                    validity="90",
                    shown="非表示",
                    order="7",
                    item_ids=f"{pilates.pk}",
                )
            ]
        ),
        dry_run=False,
    )

    # then
    assert (result.updated, result.failed) == (1, 0)
    ticket.refresh_from_db()
    assert (ticket.name, ticket.uses, ticket.max_concurrent, ticket.max_concurrent_per_day) == ("後", 8, 2, 1)
    assert (ticket.max_purchases_per_member, ticket.validity_days, ticket.is_visible) == (3, 90, False)
    assert ticket.display_order == 7
    assert ticket.updated_at > before
    assert list(ticket.items.all()) == [pilates]
    assert list(untouched.items.all()) == [yoga]


@pytest.mark.django_db
def test_a_ticket_type_deleted_after_the_file_was_read_is_refused_not_recreated():
    # given
    ticket = TicketTypeFactory(name="消える")
    loaded = TicketType.objects.get(pk=ticket.pk)
    TicketType.objects.filter(pk=ticket.pk).delete()
    loaded.name = "更新"
    change = TicketTypeChange(loaded, line=2)

    # when
    batch = TicketTypeBatch()
    batch.add(change)
    batch.flush()

    # then
    assert "There is no ticket with ID" in change.error.messages[0]
    assert not TicketType.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("dry_run", [False, True])
def test_the_import_costs_the_same_queries_for_40_rows_as_for_400(dry_run):
    items = [ItemFactory() for _ in range(3)]
    ids = ",".join(str(item.pk) for item in items)

    def data(count: int) -> bytes:
        return csv_bytes([row(name=f"券{n}", item_ids=ids) for n in range(count)])

    small, large = data(40), data(400)
    with CaptureQueriesContext(connection) as few:
        import_ticket_types(small, dry_run=dry_run)
    with CaptureQueriesContext(connection) as many:
        import_ticket_types(large, dry_run=dry_run)

    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(many.captured_queries) <= 10
    if not dry_run:
        assert TicketType.objects.count() == 440
        assert TicketType.items.through.objects.count() == 440 * 3


# --- concurrency: real threads, each on its own PostgreSQL connection --------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_imports_racing_for_one_product_give_it_to_exactly_one_and_write_every_other_row():
    # given: two files, each creating 30 tickets, the 10th of each taking the same product
    ProductFactory(sku="RACE")

    def file(tag: str) -> bytes:
        return csv_bytes([row(name=f"{tag}{n}", sku="RACE" if n == 9 else "") for n in range(30)])

    results = []

    def run(data: bytes):
        def call():
            with translation.override("en"):  # a thread starts in the default language
                results.append(import_ticket_types(data, dry_run=False))

        return call

    # when
    outcomes = run_together([run(file("A")), run(file("B"))], expected=(), success="imported")

    # then
    assert outcomes == {"imported": 2}
    assert sorted(result.failed for result in results) == [0, 1]
    failed = next(result for result in results if result.failed)
    assert failed.errors[0].line == 11
    assert "already the product of another ticket" in failed.errors[0].message
    assert TicketType.objects.filter(product__sku="RACE").count() == 1
    assert TicketType.objects.count() == 59


@pytest.mark.django_db(transaction=True)
def test_a_staff_save_taking_a_product_the_batch_is_taking_waits_for_the_batch_and_is_refused(monkeypatch):
    # given: staff give the product to another ticket at the moment the batch has checked its rows (and,
    # since the check, holds the product's row)
    product = ProductFactory(sku="TAKEN")
    write = TicketTypeBatch._write
    staff_outcome = []

    def staff_save_meanwhile():
        try:
            with translation.override("en"):
                services.ticket_type_save(
                    ticket_type=TicketType(name="管理画面から", product=product), by=None, system="test"
                )
            staff_outcome.append("saved")
        except ValidationError as error:
            with translation.override("en"):
                staff_outcome.append(" ".join(error.messages))
        finally:
            connection.close()

    other = threading.Thread(target=staff_save_meanwhile)

    def write_while_staff_wait(passed):
        other.start()
        other.join(1)
        staff_outcome.append("waiting" if other.is_alive() else "did not wait")
        write(passed)

    monkeypatch.setattr(TicketTypeBatch, "_write", staticmethod(write_while_staff_wait))

    # when
    with translation.override("en"):
        result = import_ticket_types(
            csv_bytes([row(name="前"), row(sku="TAKEN", name="取られた"), row(name="後")]), dry_run=False
        )
        other.join(30)

    # then: the staff save waited for the batch's commit and was refused; the file's rows are all in
    assert (result.created, result.failed) == (3, 0)
    assert staff_outcome[0] == "waiting"
    assert "already the product of another ticket" in staff_outcome[1]
    assert TicketType.objects.get(product=product).name == "取られた"


@pytest.mark.django_db(transaction=True)
def test_an_import_waits_for_a_staff_edit_of_the_same_ticket_and_keeps_the_product_rule():
    # given: staff are saving the ticket type (holding its row lock) when the import's batch reaches it
    ticket = TicketTypeFactory(name="元", without_product=True)
    product_a, product_b = ProductFactory(sku="A"), ProductFactory(sku="B")
    staff_has_lock, staff_may_commit = threading.Event(), threading.Event()

    def staff_sets_product_a():
        try:
            with transaction.atomic():
                TicketType.objects.select_for_update().get(pk=ticket.pk)
                staff_has_lock.set()
                staff_may_commit.wait(30)
                TicketType.objects.filter(pk=ticket.pk).update(product=product_a)
        finally:
            connection.close()

    staff = threading.Thread(target=staff_sets_product_a)
    staff.start()
    assert staff_has_lock.wait(30)
    release = threading.Timer(1.0, staff_may_commit.set)
    release.start()

    # when: the import, read before staff commit, sets product B on the same ticket
    result = import_ticket_types(
        csv_bytes([row(ticket_id=ticket.pk, sku="B", name="取り込み")]), dry_run=False
    )
    staff.join(30)

    # then: the batch waited for the lock, saw product A and refused to change it
    assert result.failed == 1
    assert "cannot be changed once it is set" in result.errors[0].message
    ticket.refresh_from_db()
    assert (ticket.product, ticket.name) == (product_a, "元")
    assert not TicketType.objects.filter(product=product_b).exists()


def test_an_update_writes_every_editable_column_and_nothing_else():
    assert set(services.UPDATED_FIELDS) == {
        "is_visible", "name", "max_concurrent", "max_concurrent_per_day", "max_purchases_per_member",
        "product", "kind", "uses", "validity_days", "display_order", "updated_at",
    }  # fmt: skip


FILES = {"A": ["P", "Q"], "B": ["Q", "P"]}


def _opposite_order_imports(monkeypatch):
    """Files A [P, Q] and B [Q, P], imported at once with the products' row locks switched off (the guard
    that serialises them now), each batch's insert of its two rows split by a barrier after the first row:
    A holds P and waits for B's Q, B holds Q and waits for A's P, and PostgreSQL aborts one of the two
    transactions as a deadlock. What remains to settle it is the row-by-row fallback. Returns the outcomes,
    each file's result by its tag, and whether a batch was seen to deadlock."""
    monkeypatch.setattr(
        services.ticket_types, "_products_for_update", lambda ids: Product.objects.in_bulk(list(ids))
    )
    ProductFactory(sku="P")
    ProductFactory(sku="Q")
    insert = services.ticket_types.bulk_insert
    first_rows_in = threading.Barrier(2, timeout=30)

    def insert_in_two_steps(model, objs):
        if model is not TicketType or len(objs) < 2:
            return insert(model, objs)
        insert(model, objs[:1])
        first_rows_in.wait()
        insert(model, objs[1:])

    monkeypatch.setattr(services.ticket_types, "bulk_insert", insert_in_two_steps)
    is_deadlock = services.ticket_types._is_deadlock
    deadlocks = []

    def seen_deadlock(error):
        answer = is_deadlock(error)
        deadlocks.append(
            getattr(error.__cause__, "sqlstate", None) == services.ticket_types.DEADLOCK_DETECTED
        )
        return answer

    monkeypatch.setattr(services.ticket_types, "_is_deadlock", seen_deadlock)
    results = {}

    def run(tag: str):
        def call():
            with translation.override("en"):
                rows = [row(sku=sku, name=f"{tag}{sku}") for sku in FILES[tag]]
                results[tag] = import_ticket_types(csv_bytes(rows), dry_run=False)

        return call

    outcomes = run_together([run("A"), run("B")], expected=(), success="imported")
    return outcomes, results, any(deadlocks)


@pytest.mark.django_db(transaction=True)
def test_two_imports_taking_two_products_in_opposite_orders_give_each_product_to_one_ticket():
    # given two products, and two files taking them in opposite orders
    ProductFactory(sku="P")
    ProductFactory(sku="Q")
    results = []

    def run(skus: list[str], tag: str):
        def call():
            with translation.override("en"):
                rows = [row(sku=sku, name=f"{tag}{sku}") for sku in skus]
                results.append(import_ticket_types(csv_bytes(rows), dry_run=False))

        return call

    # when both are imported at the same instant
    outcomes = run_together([run(["P", "Q"], "A"), run(["Q", "P"], "B")], expected=(), success="imported")

    # then the products' row locks (taken in one order) make one wait for the other: neither fails as a
    # whole, each product goes to exactly one ticket and is refused, by name, for the other
    assert outcomes == {"imported": 2}
    assert sorted((result.created, result.failed) for result in results) == [(0, 2), (2, 0)]
    assert TicketType.objects.filter(product__sku="P").count() == 1
    assert TicketType.objects.filter(product__sku="Q").count() == 1
    refused = next(result for result in results if result.failed)
    assert all("already the product of another ticket" in error.message for error in refused.errors)


@pytest.mark.django_db(transaction=True)
def test_two_imports_deadlocking_over_two_products_settle_row_by_row_without_failing(monkeypatch):
    # when
    outcomes, results, deadlocked = _opposite_order_imports(monkeypatch)

    # then: PostgreSQL did abort one batch, and neither import failed as a whole
    assert deadlocked
    assert outcomes == {"imported": 2}
    # each product went to exactly one ticket, of one of the two files' rows
    holders = dict(TicketType.objects.values_list("product__sku", "name"))
    assert TicketType.objects.count() == 2
    assert sorted(holders) == ["P", "Q"]
    # Every row ended either written (its ticket holds its product) or refused with a reason, never both,
    # never neither. Which file gets which product depends on timing: usually the aborted batch's rows are
    # all refused (2 created + 0 refused, 0 + 2), but when one backend is scheduled late the rows settled
    # one by one can split the products (1 + 1 each), and that is as correct.
    reasons = ("already the product of another ticket", "at the same moment", "already exists")
    for tag, result in results.items():
        refused = {error.line: str(error.message) for error in result.errors}
        written = {line for line, sku in enumerate(FILES[tag], start=2) if holders[sku] == f"{tag}{sku}"}
        assert written.isdisjoint(refused), (tag, written, refused)
        assert written | set(refused) == {2, 3}, (tag, written, refused)
        assert (result.created, result.failed) == (len(written), len(refused))
        # Each refusal names why: the product is another ticket's (our check, or the unique constraint's
        # own message when the other import committed between the two reads), or that someone changed it
        # at the same moment.
        assert all(any(reason in message for reason in reasons) for message in refused.values()), refused
    assert sum(result.created for result in results.values()) == 2


@pytest.mark.django_db(transaction=True)
def test_control_without_the_deadlock_fallback_one_import_fails_as_a_whole(monkeypatch):
    monkeypatch.setattr(services.ticket_types, "_is_deadlock", lambda error: False)

    outcomes, _results, deadlocked = _opposite_order_imports(monkeypatch)

    assert deadlocked
    assert outcomes["imported"] == 1
    assert any("deadlock" in outcome for outcome in outcomes)
