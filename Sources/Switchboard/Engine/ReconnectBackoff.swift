/// How long an engine's connection waits before reconnecting after `failures` failures in a row:
/// exponential from `minimum`, capped at `maximum`, jittered over the upper half (between half and
/// all of it), so nodes that lost their database or Redis together do not reconnect in step.
/// Used by the PostgreSQL listener and the Redis command and pub/sub connections.
package struct ReconnectBackoff: Sendable {
    package var minimum: Duration
    package var maximum: Duration

    package init(minimum: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.minimum = minimum
        self.maximum = maximum
    }

    package func delay(afterFailures failures: Int) -> Duration {
        let exponent = min(max(failures - 1, 0), 20)
        let capped = min(self.minimum * (1 << exponent), self.maximum)
        return capped / 2 + capped / 2 * Double.random(in: 0...1)
    }
}
