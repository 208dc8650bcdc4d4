"""The hub's declarative base and its database handle."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from shared.db import NAMING_CONVENTION, TYPE_ANNOTATION_MAP, Database


class HubModel(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = TYPE_ANNOTATION_MAP


db = Database()
