// The engine lives here (hot tier, cold tier, cursors). See DESIGN §2.
@_exported import StrataFormat
