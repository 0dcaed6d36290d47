"""Privacy: consent, pseudonymisation, erasure and export of personal data.

What crmkit does: it declares the personal fields of each record (hidden from
``repr`` and error messages), answers whether a customer may be contacted
(:func:`may_contact`), pseudonymises frames (:func:`pseudonymize`), and erases
(:func:`erase`) or exports (:func:`export`) one customer's data through the
repositories. What stays the host's job: access control, encryption in
transit and at rest, backups and logs, retention periods, and the legal basis.
"""

from crmkit.domain import RepositorySet
from crmkit.privacy._consent import ANY_PURPOSE, may_contact
from crmkit.privacy._erase import ERASED, ErasureRecord, erase, export, is_erased
from crmkit.privacy._pseudonymize import PERSONAL_COLUMNS, pseudonym, pseudonymize

__all__ = [
    "ANY_PURPOSE",
    "ERASED",
    "PERSONAL_COLUMNS",
    "ErasureRecord",
    "RepositorySet",
    "erase",
    "export",
    "is_erased",
    "may_contact",
    "pseudonym",
    "pseudonymize",
]
