"""The organiser's exports: attendees, orders, answers and check-ins as CSV and XLSX."""
