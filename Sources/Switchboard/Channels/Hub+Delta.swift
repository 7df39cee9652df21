/// Delta compression in fan-out (the SDKs' `delta: "fossil"`, docs/PROTOCOL.md "Delta compression").
///
/// A subscriber that negotiated it gets a publication as a Fossil delta against the previous
/// publication in the channel when the publication asks for it (``Publication/delta``, or the
/// namespace's ``ChannelOptions/deltaPublish``) and the delta is smaller than the data. The delta
/// is computed once per publication and its frames shared by every such subscriber, like every
/// other frame of a fan-out.
///
/// A delta is only right for a subscriber whose last publication was the channel's previous one.
/// So the hub sends a subscriber whole publications until it has received one directly: after
/// subscribing (recovered publications are whole too), while its subscribe is not complete (what
/// is held back may be dropped as covered by the outcome), and while it skips publications its
/// outcome covered. From then on it gets every publication of the channel, in order, so the
/// channel's previous publication is its previous one.
extension Hub {
    /// The subscribers that negotiated delta compression, and the frames of one publication for them.
    struct DeltaFanOut {
        /// Each subscriber that negotiated delta compression, and whether the next publication must
        /// reach it whole.
        var subscribers: [String: Bool]
        var frames: DeltaFrames
    }

    /// The frames of one publication for subscribers that negotiated delta compression, each made
    /// when the first subscriber needs it: the whole publication (in JSON with its data as a JSON
    /// string) and the delta against the previous publication's data.
    struct DeltaFrames {
        let publication: Publication
        let channel: String
        /// The previous publication's data, when this one may go as a delta against it.
        let base: String?
        private var patch: [UInt8]??
        private var jsonWhole: OutboundMessage?
        private var jsonDelta: OutboundMessage??
        private var protobufWhole: OutboundMessage?
        private var protobufDelta: OutboundMessage??

        init(publication: Publication, channel: String, base: String?) {
            self.publication = publication
            self.channel = channel
            self.base = base
        }

        /// The publication for a subscriber in `format`: as a delta unless `whole`, when a delta is
        /// usable in that format.
        mutating func message(_ format: ProtocolFormat, whole: Bool) -> OutboundMessage {
            if !whole, let delta = self.deltaMessage(format) { return delta }
            switch format {
            case .json:
                if self.jsonWhole == nil {
                    self.jsonWhole = .text(JSONFormat.publicationPush(self.publication, data: .fullAsString, channel: self.channel).jsonText)
                }
                return self.jsonWhole!
            case .protobuf:
                if self.protobufWhole == nil { self.protobufWhole = .binary(ProtobufFormat.push(.publication(self.publication), channel: self.channel)) }
                return self.protobufWhole!
            }
        }

        /// The delta push in `format`, or `nil` when there is no usable delta: no base, a delta no
        /// smaller than the data, or (in JSON, whose strings are text) a delta that is not UTF-8
        /// because it cuts a character.
        private mutating func deltaMessage(_ format: ProtocolFormat) -> OutboundMessage? {
            guard let patch = self.usablePatch() else { return nil }
            switch format {
            case .json:
                if self.jsonDelta == nil {
                    self.jsonDelta = .some(
                        String(validating: patch, as: UTF8.self).map {
                            .text(JSONFormat.publicationPush(self.publication, data: .delta($0), channel: self.channel).jsonText)
                        })
                }
                return self.jsonDelta!
            case .protobuf:
                if self.protobufDelta == nil { self.protobufDelta = .binary(ProtobufFormat.deltaPush(self.publication, patch: patch, channel: self.channel)) }
                return self.protobufDelta!
            }
        }

        /// The delta from the base to the data, made once; `nil` without a base or when it is no smaller.
        private mutating func usablePatch() -> [UInt8]? {
            if self.patch == nil {
                self.patch = .some(
                    self.base.flatMap { base in
                        let target = Array(self.publication.data.utf8)
                        let delta = FossilDelta.create(from: Array(base.utf8), to: target)
                        return delta.count < target.count ? delta : nil
                    })
            }
            return self.patch!
        }
    }

    /// The delta fan-out of a publication, taking the channel's delta subscribers out of `state`
    /// (``ChannelState/endDeltaFanOut(_:)`` puts them back), or `nil` when none negotiated it. The
    /// channel remembers the publication's data as the next one's base meanwhile.
    static func beginDeltaFanOut(_ publication: Publication, channel: String, in state: inout ChannelState) -> DeltaFanOut? {
        guard !state.deltaSubscribers.isEmpty else {
            state.previousData = nil
            return nil
        }
        let asDelta = publication.delta || state.options.deltaPublish
        let frames = DeltaFrames(publication: publication, channel: channel, base: asDelta ? state.previousData : nil)
        state.previousData = publication.data
        let fanOut = DeltaFanOut(subscribers: state.deltaSubscribers, frames: frames)
        state.deltaSubscribers = [:]
        return fanOut
    }
}

extension Hub.ChannelState {
    /// Put back the delta subscribers ``Hub/beginDeltaFanOut(_:channel:in:)`` took.
    mutating func endDeltaFanOut(_ fanOut: Hub.DeltaFanOut?) {
        if let fanOut { self.deltaSubscribers = fanOut.subscribers }
    }
}
