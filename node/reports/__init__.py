"""The member's monthly affairs report: meetings, dues and directives of a month, stored."""
