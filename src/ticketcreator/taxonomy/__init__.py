"""Organization configuration of tickets: categories, teams, custom fields and tags."""
