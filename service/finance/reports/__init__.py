"""Plain query modules behind the finance API and pages: no Flask, just a Session and filters."""
