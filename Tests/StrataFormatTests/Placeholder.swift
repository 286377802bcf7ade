import Testing
@testable import StrataFormat
