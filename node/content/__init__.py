"""Articles and notices (文章 / 通知) of a tenant's organizations; public ones feed the hub."""
