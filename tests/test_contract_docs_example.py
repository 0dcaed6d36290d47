"""The worked example of docs/how-to/repositories.md meets the repository contract.

The page promises that the classes it builds pass the suite; this runs the
suite on exactly the code shown there (the page's doctest checks its examples).
"""

import doctest
from pathlib import Path
from typing import Any

import crmkit.testing

PAGE = Path(__file__).parent.parent / "docs" / "how-to" / "repositories.md"


def _classes_from_the_page() -> dict[str, Any]:
    """Run the page's examples up to the point where the classes are defined."""
    namespace: dict[str, Any] = {}
    text = PAGE.read_text(encoding="utf-8")
    text = text[text.index("## A complete example over a dict") :]  # the PostgreSQL one is before
    examples = doctest.DocTestParser().get_examples(text)
    for example in examples:
        exec(compile(example.source, str(PAGE), "single"), namespace)
        if "DictActivities" in namespace and "DictContacts" in namespace:
            break
    return namespace


_PAGE = _classes_from_the_page()


class TestDocumentedDictRepositories(crmkit.testing.RepositoryContract):
    max_examples = 25  # an example, not a product: a lighter run keeps the suite quick

    def create_repositories(self) -> crmkit.testing.ClosableRepositorySet:
        db: dict[str, dict[str, str]] = {"customers": {}, "contacts": {}, "activities": {}}
        return crmkit.testing.Repositories(
            customers=_PAGE["DictCustomers"](db["customers"]),
            contacts=_PAGE["DictContacts"](db["contacts"]),
            activities=_PAGE["DictActivities"](db["activities"]),
        )
