"""Plain helpers the tests import (constants, builders, servers); fixtures live in conftest files."""
