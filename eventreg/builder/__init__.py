"""The event builder: the services that create and configure an event (shared by the organiser's
pages and the API), and the organiser's pages on top of them."""
