import pytest
from django.db import models
from django.test.utils import isolate_apps

from datatransfer.exceptions import GraphError
from datatransfer.graph import dependency_order
from datatransfer.registry import domain_tables
from tests.domain_order import OLD_TOOL_ORDER


def test_domain_order_is_computed_from_metadata_and_matches_the_old_tool():
    assert [t.key for t in domain_tables()] == OLD_TOOL_ORDER


def test_every_table_comes_after_the_tables_its_links_need():
    tables = domain_tables()
    position = {t.key: i for i, t in enumerate(tables)}
    for table in tables:
        for needed in table.dependencies:
            assert position[needed] < position[table.key], (table.key, needed)


def test_the_owner_cycle_is_broken_on_the_nullable_link_and_the_self_reference_deferred():
    deferred = {t.key: [s.key for s in t.deferred] for t in domain_tables() if t.deferred}
    assert deferred == {"organizations": ["ownerId"], "blockchainBlocks": ["previousBlockId"]}


@isolate_apps("datatransfer")
def test_a_new_model_with_foreign_keys_is_placed_without_any_list_to_edit():
    class Shelf(models.Model):
        class Meta:
            app_label = "datatransfer"

        keeper = models.ForeignKey("Reader", null=True, on_delete=models.SET_NULL, related_name="+")

    class Reader(models.Model):
        class Meta:
            app_label = "datatransfer"

        shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE, related_name="+")

    class Book(models.Model):
        class Meta:
            app_label = "datatransfer"

        shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE)
        sequel = models.ForeignKey("self", null=True, on_delete=models.SET_NULL)
        readers = models.ManyToManyField(Reader)

    class Loan(models.Model):
        class Meta:
            app_label = "datatransfer"

        book = models.ForeignKey(Book, on_delete=models.CASCADE)

    order = dependency_order([Loan, Book, Reader, Shelf])
    assert [n.model for n in order] == [Shelf, Reader, Book, Loan]
    by_model = {n.model: n for n in order}
    assert [f.name for f in by_model[Shelf].deferred] == ["keeper"]
    assert [f.name for f in by_model[Book].deferred] == ["sequel"]
    assert set(by_model[Book].dependencies) == {Shelf, Reader}


@isolate_apps("datatransfer")
def test_a_cycle_without_a_nullable_link_is_refused_naming_the_models():
    class Egg(models.Model):
        class Meta:
            app_label = "datatransfer"

        hen = models.ForeignKey("Hen", on_delete=models.CASCADE)

    class Hen(models.Model):
        class Meta:
            app_label = "datatransfer"

        egg = models.ForeignKey(Egg, on_delete=models.CASCADE)

    with pytest.raises(GraphError, match="datatransfer.Egg, datatransfer.Hen"):
        dependency_order([Egg, Hen])
