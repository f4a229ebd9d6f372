"""Group analytics: what a group learns from its members' pooled data, never about one member."""
