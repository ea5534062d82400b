"""Discord's length and count limits for messages and embeds, in one place.

https://discord.com/developers/docs/resources/message#embed-object-embed-limits
"""

CONTENT_LIMIT = 2000
"""Characters in a message's plain content."""
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_PER_EMBED = 25
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
"""Characters over all the embeds of one message (titles, descriptions, fields, footers, authors)."""
EMBEDS_PER_MESSAGE = 10
