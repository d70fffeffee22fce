"""Scene discovery: STAC items normalized into one scene record, whatever API served them."""
