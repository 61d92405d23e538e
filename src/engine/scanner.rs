//! Background scanner policy: which main blocks to read next, and how many
//! the rate limit allows now.
//!
//! The kernel's scanner worker asks for a window, reads those blocks from
//! the main device, reports each result to the engine (`on_read_ok`,
//! `on_read_error`, `on_read_retry_succeeded` — the last one rescues a weak
//! block by remapping it while its data is still readable), then advances
//! the cursor. The cursor is persisted (a log record every
//! `checkpoint_blocks` blocks and in every snapshot) so a scan resumes where
//! it stopped after a reload.

/// Nanoseconds per second: one token per block costs this many units.
const NS_PER_SEC: u64 = 1_000_000_000;

/// Rate limiter and cursor of the background scan.
#[derive(Clone, Copy, Debug)]
pub struct Scanner {
    cursor: u64,
    main_blocks: u64,
    passes: u64,
    rate: u64,
    burst: u64,
    /// Tokens scaled by `NS_PER_SEC`, so refilling needs no division.
    scaled_tokens: u64,
    last_ns: Option<u64>,
    checkpointed: u64,
    checkpoint_blocks: u64,
}

/// A run of main blocks the scanner may read now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanWindow {
    /// First main block.
    pub start: u64,
    /// Number of blocks.
    pub count: u64,
}

impl Scanner {
    /// A scanner over `main_blocks` blocks starting at `cursor`, allowed
    /// `rate` blocks per second (0 = paused) with bursts of up to `burst`
    /// blocks, recording its cursor every `checkpoint_blocks` blocks.
    pub fn new(
        main_blocks: u64,
        cursor: u64,
        rate: u64,
        burst: u64,
        checkpoint_blocks: u64,
    ) -> Self {
        Scanner {
            cursor: if cursor < main_blocks { cursor } else { 0 },
            main_blocks,
            passes: 0,
            rate,
            burst: burst.max(1),
            scaled_tokens: 0,
            last_ns: None,
            checkpointed: cursor,
            checkpoint_blocks: checkpoint_blocks.max(1),
        }
    }

    /// Next block to scan.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Complete passes over the device.
    pub fn passes(&self) -> u64 {
        self.passes
    }

    /// Changes the rate (blocks per second, 0 pauses).
    pub fn set_rate(&mut self, rate: u64, burst: u64) {
        self.rate = rate;
        self.burst = burst.max(1);
        self.scaled_tokens = self.scaled_tokens.min(self.capacity());
    }

    fn capacity(&self) -> u64 {
        self.burst.saturating_mul(NS_PER_SEC)
    }

    fn refill(&mut self, now_ns: u64) {
        if let Some(last) = self.last_ns {
            // A clock that goes backwards adds nothing.
            let elapsed = now_ns.saturating_sub(last);
            let added = elapsed.saturating_mul(self.rate);
            self.scaled_tokens = self
                .scaled_tokens
                .saturating_add(added)
                .min(self.capacity());
        }
        if !matches!(self.last_ns, Some(last) if now_ns <= last) {
            self.last_ns = Some(now_ns);
        }
    }

    /// Takes up to `want` tokens at monotonic time `now_ns`; returns how
    /// many blocks may be scanned now.
    pub fn grant(&mut self, now_ns: u64, want: u64) -> u64 {
        self.refill(now_ns);
        if self.rate == 0 {
            return 0;
        }
        let granted = want.min(self.scaled_tokens / NS_PER_SEC);
        self.scaled_tokens -= granted * NS_PER_SEC;
        granted
    }

    /// The blocks to scan now (at most `max`, never past the end of the
    /// device), or `None` if the rate limit allows nothing yet.
    pub fn window(&mut self, now_ns: u64, max: u64) -> Option<ScanWindow> {
        let remaining = self.main_blocks.saturating_sub(self.cursor);
        let count = self.grant(now_ns, max.min(remaining));
        if count == 0 {
            None
        } else {
            Some(ScanWindow {
                start: self.cursor,
                count,
            })
        }
    }

    /// Marks the current cursor as recorded (the caller records it) and
    /// returns it.
    pub fn checkpoint(&mut self) -> u64 {
        self.checkpointed = self.cursor;
        self.cursor
    }

    /// Moves the cursor past `count` scanned blocks, wrapping to 0 at the
    /// end of the device. Returns true when the cursor should be recorded
    /// in the metadata (every `checkpoint_blocks` blocks and on wrap).
    pub fn advance(&mut self, count: u64) -> bool {
        let next = self.cursor.saturating_add(count);
        if next >= self.main_blocks {
            self.cursor = 0;
            self.passes += 1;
        } else {
            self.cursor = next;
        }
        let moved = if self.cursor >= self.checkpointed {
            self.cursor - self.checkpointed
        } else {
            self.checkpoint_blocks
        };
        if moved >= self.checkpoint_blocks {
            self.checkpointed = self.cursor;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_rate_per_second() {
        let mut scanner = Scanner::new(1_000_000, 0, 100, 10, 1000);
        assert_eq!(scanner.grant(0, 1000), 0, "bucket starts empty");
        assert_eq!(scanner.grant(50_000_000, 1000), 5);
        // Bucket caps at the burst size.
        assert_eq!(scanner.grant(10 * NS_PER_SEC, 1000), 10);
        let mut total = 0;
        for step in 1..=100u64 {
            total += scanner.grant(10 * NS_PER_SEC + step * 10_000_000, 1000);
        }
        assert_eq!(total, 100, "one second at 100 blocks/s");
        // Clock going backwards grants nothing and does not panic.
        assert_eq!(scanner.grant(0, 1000), 0);
        assert_eq!(scanner.grant(u64::MAX, u64::MAX), 10);
    }

    #[test]
    fn cursor_wraps_and_checkpoints() {
        let mut scanner = Scanner::new(10, 8, 1000, 100, 4);
        assert_eq!(scanner.cursor(), 8);
        assert!(scanner.advance(5), "wrap is a checkpoint");
        assert_eq!((scanner.cursor(), scanner.passes()), (0, 1));
        assert!(!scanner.advance(3));
        assert!(scanner.advance(1));
        assert_eq!(Scanner::new(10, 99, 1, 1, 1).cursor(), 0);
    }

    #[test]
    fn window_stops_at_device_end() {
        let mut scanner = Scanner::new(10, 7, 1000, 100, 4);
        scanner.grant(0, 0);
        let window = scanner.window(NS_PER_SEC, 50).unwrap();
        assert_eq!(window, ScanWindow { start: 7, count: 3 });
    }
}
