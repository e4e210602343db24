/// Categorical palettes: scanpy's defaults, so a domain map here and `sc.pl.spatial` of the written
/// h5ad colour the same categories alike.
///
/// Source: scverse/scanpy `src/scanpy/plotting/legacy/palettes.py` (formerly
/// `scanpy/plotting/palettes.py`) and the choice rule in `_set_default_colors_for_categorical_obs`
/// (`legacy/_utils.py`): ≤ 20 categories `default_20` (= `vega_20_scanpy`: matplotlib's tab20
/// reordered dark-then-light without the greys, three colour-blindness adjustments from
/// scanpy issue #387, and two manual additions), ≤ 28 `default_28` (= `zeileis_28`), ≤ 102
/// `default_102` (= `godsnot_102`). scanpy turns every category grey beyond 102; we cycle
/// `default_102` instead so categories stay distinguishable where they can.
public enum Palette {
    /// scanpy `default_20` / `vega_20_scanpy`, written out (tab20 with the substitutions applied).
    public static let default20: [String] = [
        "#1f77b4", "#ff7f0e", "#279e68", "#d62728", "#aa40fc", "#8c564b", "#e377c2",
        "#b5bd61", "#17becf",
        "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
        "#dbdb8d", "#9edae5",
        "#ad494a", "#8c6d31",
    ]

    /// scanpy `default_28` / `zeileis_28`.
    public static let default28: [String] = [
        "#023fa5", "#7d87b9", "#bec1d4", "#d6bcc0", "#bb7784", "#8e063b", "#4a6fe3",
        "#8595e1", "#b5bbe3", "#e6afb9", "#e07b91", "#d33f6a", "#11c638", "#8dd593",
        "#c6dec7", "#ead3c6", "#f0b98d", "#ef9708", "#0fcfc0", "#9cded6", "#d5eae7",
        "#f3e1eb", "#f6c4e1", "#f79cd4",
        "#7f7f7f", "#c7c7c7", "#1CE6FF", "#336600",
    ]

    /// scanpy `default_102` / `godsnot_102` (black removed by scanpy).
    public static let default102: [String] = [
        "#FFFF00", "#1CE6FF", "#FF34FF", "#FF4A46", "#008941", "#006FA6", "#A30059",
        "#FFDBE5", "#7A4900", "#0000A6", "#63FFAC", "#B79762", "#004D43", "#8FB0FF", "#997D87",
        "#5A0007", "#809693", "#6A3A4C", "#1B4400", "#4FC601", "#3B5DFF", "#4A3B53", "#FF2F80",
        "#61615A", "#BA0900", "#6B7900", "#00C2A0", "#FFAA92", "#FF90C9", "#B903AA", "#D16100",
        "#DDEFFF", "#000035", "#7B4F4B", "#A1C299", "#300018", "#0AA6D8", "#013349", "#00846F",
        "#372101", "#FFB500", "#C2FFED", "#A079BF", "#CC0744", "#C0B9B2", "#C2FF99", "#001E09",
        "#00489C", "#6F0062", "#0CBD66", "#EEC3FF", "#456D75", "#B77B68", "#7A87A1", "#788D66",
        "#885578", "#FAD09F", "#FF8A9A", "#D157A0", "#BEC459", "#456648", "#0086ED", "#886F4C",
        "#34362D", "#B4A8BD", "#00A6AA", "#452C2C", "#636375", "#A3C8C9", "#FF913F", "#938A81",
        "#575329", "#00FECF", "#B05B6F", "#8CD0FF", "#3B9700", "#04F757", "#C8A1A1", "#1E6E00",
        "#7900D7", "#A77500", "#6367A9", "#A05837", "#6B002C", "#772600", "#D790FF", "#9B9700",
        "#549E79", "#FFF69F", "#201625", "#72418F", "#BC23FF", "#99ADC0", "#3A2465", "#922329",
        "#5B4534", "#FDE8DC", "#404E55", "#0089A3", "#CB7E98", "#A4E804", "#324E72",
    ]

    /// The palette scanpy would pick for `count` categories, as colours (exactly `count` of them;
    /// cycled beyond 102).
    public static func categorical(_ count: Int) -> [Color] {
        guard count > 0 else { return [] }
        let hexes = count <= 20 ? default20 : count <= 28 ? default28 : default102
        return (0..<count).map { Color(hex: hexes[$0 % hexes.count])! }
    }

    /// The colour of series `index` in line and bar plots (matplotlib's colour cycle under
    /// scanpy's rcParams: `default_20`).
    public static func cycle(_ index: Int) -> Color {
        Color(hex: default20[index % default20.count])!
    }
}
