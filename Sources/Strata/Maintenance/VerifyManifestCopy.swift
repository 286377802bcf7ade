import StrataBlob

/// The manifest versions `verify` found in the cold store for one topic.
struct VerifiedManifests: Sendable {
    /// The highest version listed, whether or not it decoded.
    var newestListed: UInt64?
    /// The newest version that decoded.
    var newest: Manifest? = nil
    /// Every version that decoded.
    var decoded: [UInt64: Manifest] = [:]
}

extension Lake {
    /// Compares the lake's local copy of the topic's manifest with the cold store's chain
    /// (issue 12.2): a copy newer than every cold manifest means the store lost its latest
    /// manifest (the objects only that version lists would be orphans to a scrub); a copy of a
    /// version the store holds must say the same; an older copy is a stale cache (warning).
    func verifyLocalCopy(topic: String, chain: VerifiedManifests, report: inout VerifyReport) {
        let path = paths.topicManifestCopy(topic)
        guard FileIO.exists(path) else { return }
        let copy: Manifest
        switch LocalManifestCopy.read(path, topic: topic) {
        case .failure(let message):
            let what =
                "the local copy of the manifest is unreadable (\(message)); "
                + "delete it and the lake reads the cold store's"
            report.add(
                VerifyProblem(
                    topic: topic, location: path, position: nil, what: what,
                    kind: .manifestInconsistent))
            return
        case .success(let manifest): copy = manifest
        }
        report.manifestsChecked += 1
        let key = cold.layout.manifestKey(topic: topic, version: copy.version)
        guard let newest = chain.newestListed, newest >= copy.version else {
            let cold = chain.newestListed.map { "its newest manifest is v\($0)" } ?? "it has no manifest for the topic"
            report.add(
                VerifyProblem(
                    topic: topic, location: path, position: nil,
                    what: "the local copy is manifest v\(copy.version) (\(LocalManifestCopy.summary(copy))) "
                        + "but the cold store \(self.cold.location) lacks it: \(cold). The latest manifest is missing; "
                        + "scrub deletes nothing of this topic. Restore it by copying \(path) to \(key)",
                    kind: .missingManifest))
            return
        }
        if newest > copy.version {
            let what =
                "the local copy is manifest v\(copy.version), the cold store's newest is v\(newest); "
                + "the next offload refreshes it"
            report.add(VerifyProblem(topic: topic, location: path, position: nil, what: what, kind: .staleManifestCopy))
            return
        }
        if let same = chain.decoded[copy.version], same != copy {
            let what =
                "the local copy of manifest v\(copy.version) (\(LocalManifestCopy.summary(copy))) "
                + "differs from \(key) in the cold store (\(LocalManifestCopy.summary(same)))"
            report.add(
                VerifyProblem(
                    topic: topic, location: path, position: nil, what: what,
                    kind: .manifestInconsistent))
        }
    }
}

/// Reading the lake's local copy of a topic's manifest (`<topic>/manifest.json`) for checks;
/// the read path treats it as a cache and ignores it when it is damaged.
enum LocalManifestCopy {
    enum Read {
        case success(Manifest)
        /// Why it cannot be used.
        case failure(String)
    }

    static func read(_ path: String, topic: String) -> Read {
        let bytes: [UInt8]
        do throws(StrataError) { bytes = try FileIO.readWholeFile(path) } catch { return .failure(error.message) }
        do throws(FormatError) { return .success(try Manifest.decode(bytes, expectedTopic: topic)) } catch {
            return .failure("\(error)")
        }
    }

    /// `offsets 0...4999 in 5 objects`, for messages.
    static func summary(_ manifest: Manifest) -> String {
        let objects = manifest.segments.count + manifest.archives.reduce(0) { $0 + $1.segmentCount }
        guard manifest.nextOffset > manifest.logStartOffset else { return "no offsets" }
        return "offsets \(manifest.logStartOffset)...\(manifest.nextOffset - 1) in \(objects) objects"
    }
}
