import Foundation

/// An alpha-beta (latency-bandwidth) model of one training epoch on p ranks, fed by the volumes,
/// kernel rate and O(N) costs measured in a real run (`ScalingReport`), and a network's published
/// latency α and bandwidth β.
///
/// Per epoch on one rank with n = N/p spots (every term is the slowest rank's, no overlap of
/// communication with compute, one rank per network port):
///
///     compute    F(n)/R,  F(n) = n·(8·z·d + 12·a·d + 6·m·d + 16·d²) + 4·d²·G
///                (z = nnz(X)/spot, a = nnz(Â)/spot, m = nnz(M)/spot; the two X passes, four Â
///                products, M and Mᵀ, the n·d² dense products, the replicated d²·G epilogue),
///                R = the rate measured on the real run's compute time
///     serial     n·c   (the corruption plan: π and π⁻¹ of the rank's own rows, O(n log n) ≈ linear)
///     halo       5·k·α + h·36·d/β,  h = c_h·√n ghost rows (RCB tiles), k = min(p−1, k_max)
///                neighbours; 5 exchanges per epoch of widths 2d, 2d, d, 2d, 2d floats (4 B)
///     corruption 2·(p−1)·α + 2·n·d·4·(1 − 1/p)/β   (all-to-all of U forward and ∂Ũ backward:
///                a row's d floats leave its rank with probability 1 − 1/p)
///     allreduce  2·log2(p)·α + 2·(p−1)/p·S/β   (S = the packed float64 buffer, independent of p)
///
/// On 2…16 ranks the trainer splits the epilogue by genes instead (a small allreduce, a
/// reduce-scatter and an all-gather by `exchange`, `GraphSTModel.splitEpilogueMaxRanks`); the
/// rank counts projected here (64 and more) keep the packed allreduce and the replicated
/// epilogue, which is what the terms above describe.
public struct ScalingProjection: Codable, Equatable, Sendable {
    /// Latent width d.
    public var dim: Int
    /// Genes G (sets the replicated epilogue and the packed buffer).
    public var genes: Int
    /// nnz(X) per spot.
    public var nnzPerSpot: Double
    /// nnz(Â) per spot (self loop + neighbours).
    public var adjacencyPerSpot: Double
    /// nnz(M) per spot.
    public var maskPerSpot: Double
    /// Achieved compute rate of one rank (flop/s), measured.
    public var computeRate: Double
    /// Seconds per owned spot per epoch of the corruption plan (π and π⁻¹ of the rank's rows and a
    /// sort of them: O((N/p)·log(N/p)), taken as linear), measured.
    public var planSecondsPerOwnedSpot: Double
    /// Halo rows of one rank = coefficient·√(N/p).
    public var haloCoefficient: Double
    /// Largest number of neighbour ranks of one tile.
    public var maxNeighbours: Int
    /// Extra float64 slots in the packed allreduce (the stop votes).
    public var extraSlots: Int

    public init(dim: Int, genes: Int, nnzPerSpot: Double, adjacencyPerSpot: Double = 7, maskPerSpot: Double = 7,
                computeRate: Double, planSecondsPerOwnedSpot: Double, haloCoefficient: Double = 4,
                maxNeighbours: Int = 6, extraSlots: Int = 0) {
        self.dim = dim; self.genes = genes; self.nnzPerSpot = nnzPerSpot; self.adjacencyPerSpot = adjacencyPerSpot
        self.maskPerSpot = maskPerSpot; self.computeRate = computeRate; self.planSecondsPerOwnedSpot = planSecondsPerOwnedSpot
        self.haloCoefficient = haloCoefficient; self.maxNeighbours = maxNeighbours; self.extraSlots = extraSlots
    }

    /// A network: latency α (s) and bandwidth β (bytes/s) of one rank's port, with its source.
    public struct Network: Codable, Equatable, Sendable {
        public var name: String
        public var alpha: Double
        public var beta: Double
        public var source: String
        public init(name: String, alpha: Double, beta: Double, source: String) {
            self.name = name; self.alpha = alpha; self.beta = beta; self.source = source
        }

        /// InfiniBand HDR (200 Gb/s = 25 GB/s per port; MPI ping-pong latency about 1 µs).
        public static let infinibandHDR = Network(
            name: "InfiniBand HDR", alpha: 1.5e-6, beta: 24e9,
            source: "NVIDIA ConnectX-6 HDR: 200 Gb/s per port (25 GB/s); OSU osu_latency ≈ 1.0–1.5 µs, osu_bw ≈ 24 GB/s")
        /// 25 Gigabit Ethernet with TCP (3.125 GB/s line rate; MPI latency tens of µs over the kernel stack).
        public static let ethernet25G = Network(
            name: "25 GbE (TCP)", alpha: 25e-6, beta: 2.9e9,
            source: "IEEE 802.3by 25 Gb/s (3.125 GB/s line rate, ≈ 2.9 GB/s TCP payload); Open MPI over TCP latency ≈ 15–50 µs")
    }

    /// One epoch's time by part (seconds) and the volumes behind it.
    public struct Epoch: Codable, Equatable, Sendable {
        public var ranks: Int
        public var spots: Double
        public var compute: Double
        public var serial: Double
        public var halo: Double
        public var corruption: Double
        public var allreduce: Double
        public var haloBytes: Double
        public var corruptionBytes: Double
        public var allreduceBytes: Double
        public var total: Double { compute + serial + halo + corruption + allreduce }
    }

    /// Floating-point operations of one epoch on a rank holding n spots (2 per multiply-add).
    public func flops(spotsPerRank n: Double) -> Double {
        let d = Double(dim)
        return n * (8 * nnzPerSpot * d + 12 * adjacencyPerSpot * d + 6 * maskPerSpot * d + 16 * d * d)
            + 4 * d * d * Double(genes)
    }

    /// Bytes of the packed allreduce: losses (4), K (d²), [Cᵀ | ∂W1] (G·2d), ∂Wb (d²), b (1), extra.
    public var packedBytes: Double {
        let d = Double(dim)
        return 8 * (4 + d * d + Double(genes) * 2 * d + d * d + 1 + Double(extraSlots))
    }

    /// The model's epoch for a slide of `spots` on `ranks` ranks over `network`.
    public func epoch(spots: Double, ranks p: Int, network: Network) -> Epoch {
        let pd = Double(p), d = Double(dim), n = spots / pd
        let compute = flops(spotsPerRank: n) / computeRate
        let serial = n * planSecondsPerOwnedSpot
        var halo = 0.0, corruption = 0.0, allreduce = 0.0, hb = 0.0, cb = 0.0, ab = 0.0
        if p > 1 {
            let rows = haloCoefficient * n.squareRoot()
            hb = rows * 36 * d
            halo = 5 * Double(min(p - 1, maxNeighbours)) * network.alpha + hb / network.beta
            cb = 2 * n * d * 4 * (1 - 1 / pd)
            corruption = 2 * (pd - 1) * network.alpha + cb / network.beta
            ab = packedBytes
            allreduce = 2 * log2(pd) * network.alpha + 2 * (pd - 1) / pd * ab / network.beta
        }
        return Epoch(ranks: p, spots: spots, compute: compute, serial: serial, halo: halo, corruption: corruption,
                     allreduce: allreduce, haloBytes: hb, corruptionBytes: cb, allreduceBytes: ab)
    }

    /// The assumptions, one line each (for captions and documents).
    public func assumptions(networks: [Network]) -> [String] {
        var s = [
            "α-β model, per epoch, slowest rank; no overlap of communication and compute; one rank per network port.",
            "compute = F(N/p)/R, F(n) = n(8zd + 12ad + 6md + 16d²) + 4d²G; d = \(dim), G = \(genes), "
                + "z = nnz(X)/spot = \(String(format: "%.1f", nnzPerSpot)) (measured), a = m = \(String(format: "%.0f", adjacencyPerSpot)) (hex k=3 graph); "
                + "R = \(String(format: "%.2f", computeRate / 1e9)) GFLOP/s per rank (measured).",
            "corruption plan per rank: (N/p)·c, c = \(String(format: "%.2f", planSecondsPerOwnedSpot * 1e9)) ns per owned spot (measured; π and π⁻¹ of the rank's rows, no O(N) pass).",
            "halo: \(String(format: "%.1f", haloCoefficient))·√(N/p) rows × 36d B, 5 exchanges × min(p−1, \(maxNeighbours)) messages; "
                + "corruption all-to-all: 2·(N/p)·d·4·(1−1/p) B, 2(p−1) messages; "
                + "allreduce: S = \(String(format: "%.2f", packedBytes / 1e6)) MB, 2·log2(p)·α + 2(p−1)/p·S/β.",
        ]
        for n in networks {
            s.append("\(n.name): α = \(String(format: "%.1f", n.alpha * 1e6)) µs, β = \(String(format: "%.1f", n.beta / 1e9)) GB/s — \(n.source).")
        }
        return s
    }
}
