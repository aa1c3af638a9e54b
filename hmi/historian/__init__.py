"""The historian: records tag values to the database (store and forward) and answers trend queries over days."""

from hmi.historian.query import HistoryQuery, Series
from hmi.historian.writer import Historian, HistorianStatus

__all__ = ["Historian", "HistorianStatus", "HistoryQuery", "Series"]
