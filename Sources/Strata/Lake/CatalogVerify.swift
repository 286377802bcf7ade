import StrataFormat

extension Lake {
    /// Checks every topic catalog file (formats/catalog.md): its header, the CRC of every record,
    /// that the records agree with each other, and that the newest complete file ends its
    /// snapshot. A torn tail of the newest file is a warning (the next writer's open quarantines
    /// it); damage followed by a valid record is corruption. A file without its end-of-snapshot
    /// record beside a complete one is an unfinished compaction: a warning.
    func verifyCatalog() throws(StrataError) -> VerifyReport {
        var report = VerifyReport()
        let sequences = try Catalog.sequences(paths)
        for sequence in sequences {
            // A writer's compaction may delete the file meanwhile: nothing to check then.
            guard let image = try? Catalog.readFile(paths, sequence: sequence) else { continue }
            report.bytesChecked += Int64(image.bytes.count)
            if let (position, why) = image.contradiction {
                report.add(
                    VerifyProblem(
                        topic: "-", location: image.path, position: position,
                        what: "catalog record contradicts the records before it: \(why)", kind: .corruptCatalog))
                continue
            }
            if let stop = image.scan.stopError {
                let torn = image.scan.resumePosition == nil && sequence == sequences.last
                var what = "catalog record damaged: \(stop)"
                if let resume = image.scan.resumePosition { what += "; a valid record follows at byte \(resume)" }
                report.add(
                    VerifyProblem(
                        topic: "-", location: image.path, position: image.scan.validEnd, what: what,
                        kind: torn ? .tornTail : .corruptCatalog))
            }
            if image.scan.snapshotEnd == nil {
                report.add(
                    VerifyProblem(
                        topic: "-", location: image.path, position: nil,
                        what: "catalog file without its end-of-snapshot record (an unfinished compaction; "
                            + "the previous file is used)",
                        kind: sequence == sequences.last && sequences.count > 1 ? .tornTail : .corruptCatalog))
            }
        }
        return report
    }
}
