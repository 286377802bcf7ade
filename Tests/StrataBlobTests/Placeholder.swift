import Testing
@testable import StrataBlob
