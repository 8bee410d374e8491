"""IMAD Classroom: hub configuration, workspace extension, classroom service, publishers."""
