import Testing
@testable import Strata
