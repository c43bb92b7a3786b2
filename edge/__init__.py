"""The edge: answers clicks, opens and unsubscribes and records them without waiting."""
