"""Study data: canonical schema, validation and adapters."""

from sitefx.data.adapters import Roles, Study, load, load_study, read_table
from sitefx.data.schema import DataAccounting, Drop, IndividualRecords, SiteSummaries, StudyData
from sitefx.data.validate import individual_records, site_summaries

__all__ = [
    "DataAccounting",
    "Drop",
    "IndividualRecords",
    "Roles",
    "SiteSummaries",
    "Study",
    "StudyData",
    "individual_records",
    "load",
    "load_study",
    "read_table",
    "site_summaries",
]
