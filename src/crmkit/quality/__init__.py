"""Data quality: standardisation, bulk validation, duplicate detection and lossless merge.

Needs the ``quality`` extra (``pip install "crmkit[quality]"``: ``phonenumbers``
and ``rapidfuzz``); they are imported by the functions that use them, never
at ``import crmkit``.
"""

from crmkit.quality._duplicates import Duplicates, find_duplicates
from crmkit.quality._merge import (
    MERGED_INTO,
    ActivityRePointer,
    ContactRePointer,
    InMemoryMergeJournal,
    MergeJournal,
    MergeRecord,
    RePointer,
    StaffRePointer,
    default_repointers,
    merge,
    merge_key,
    undo_merge,
)
from crmkit.quality._repointers import LedgerRePointer, TransitionRePointer
from crmkit.quality._standardize import (
    name_key,
    standardize_email,
    standardize_entity,
    standardize_frame,
    standardize_name,
    standardize_phone,
)
from crmkit.quality._synthetic import synthetic_customers
from crmkit.quality._validate import ValidationReport, validate_customers

__all__ = [
    "MERGED_INTO",
    "ActivityRePointer",
    "ContactRePointer",
    "Duplicates",
    "InMemoryMergeJournal",
    "LedgerRePointer",
    "MergeJournal",
    "MergeRecord",
    "RePointer",
    "StaffRePointer",
    "TransitionRePointer",
    "ValidationReport",
    "default_repointers",
    "find_duplicates",
    "merge",
    "merge_key",
    "name_key",
    "standardize_email",
    "standardize_entity",
    "standardize_frame",
    "standardize_name",
    "standardize_phone",
    "synthetic_customers",
    "undo_merge",
    "validate_customers",
]
