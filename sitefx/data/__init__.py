"""Study data: canonical schema, validation and adapters."""

from sitefx.data.adapters import Roles, Study, load, load_study, read_table
from sitefx.data.schema import (
    ArmSummaries,
    DataAccounting,
    Drop,
    IndividualRecords,
    Level,
    SiteSummaries,
    StudyData,
)
from sitefx.data.validate import arm_summaries, individual_records, site_summaries

__all__ = [
    "ArmSummaries",
    "DataAccounting",
    "Drop",
    "IndividualRecords",
    "Level",
    "Roles",
    "SiteSummaries",
    "Study",
    "StudyData",
    "arm_summaries",
    "individual_records",
    "load",
    "load_study",
    "read_table",
    "site_summaries",
]
