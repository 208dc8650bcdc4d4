"""Bulk import of members from CSV and XLSX files, every row checked before anything is written."""
