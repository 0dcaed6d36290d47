"""The in-memory repositories meet the repository contract (the reference implementation)."""

import crmkit.quality
import crmkit.testing
from crmkit.domain import (
    ActivityRepository,
    ContactRepository,
    CustomerRepository,
    InMemoryActivityRepository,
    InMemoryContactRepository,
    InMemoryCustomerRepository,
)


class TestInMemoryRepositories(crmkit.testing.RepositoryContract):
    def create_repositories(self) -> crmkit.testing.ClosableRepositorySet:
        return crmkit.testing.Repositories.in_memory()


def test_in_memory_repositories_satisfy_the_protocols() -> None:
    assert isinstance(InMemoryCustomerRepository(), CustomerRepository)
    assert isinstance(InMemoryContactRepository(), ContactRepository)
    assert isinstance(InMemoryActivityRepository(), ActivityRepository)
    assert isinstance(crmkit.testing.Repositories.in_memory(), crmkit.testing.ClosableRepositorySet)


class TestInMemoryMergeJournal(crmkit.testing.MergeJournalContract):
    def create_journal(self) -> crmkit.quality.MergeJournal:
        return crmkit.quality.InMemoryMergeJournal()
