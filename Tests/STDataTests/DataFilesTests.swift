import XCTest
import STCore
@testable import STData
import STTestSupport

/// Every shared dataset loads, with shapes, names, coordinates, X values and label counts checked
/// against values read independently with h5py/anndata.
final class DataFilesTests: XCTestCase {
    struct Expected {
        var file: String
        var shape: (Int, Int)
        var nnz: Int
        var isInteger: Bool
        var obs0: String, obsLast: String, var0: String, varLast: String
        var sp0: (Double, Double), spLast: (Double, Double)
        var row0: (nnz: Int, idx: [Int32], val: [Float])
        var xSum: Double
        var midRowSum: Double
        var labels: (column: String, categories: [String], counts: [Int], missing: Int)?
    }

    static let expected: [Expected] = [
        Expected(file: "DLPFC_151676.h5ad", shape: (3460, 5000), nnz: 2081803, isInteger: true,
                 obs0: "AAACAAGTATCTCCCA-1", obsLast: "TTGTTTGTGTAAATTC-1", var0: "ENSG00000122585", varLast: "ENSG00000143793",
                 sp0: (434.29344430000003, 116.74167818800004), spLast: (277.99280885400003, 349.729985042),
                 row0: (717, [1, 4, 6], [2, 6, 4]), xSum: 3967827, midRowSum: 383,
                 labels: ("layer", ["L1", "L2", "L3", "L4", "L5", "L6", "WM"], [289, 254, 836, 254, 649, 616, 533], 29)),
        Expected(file: "MERFISH_hypothalamus_animal1.h5ad", shape: (11162, 161), nnz: 624022, isInteger: false,
                 obs0: "cell_1", obsLast: "cell_11162", var0: "Ace2", varLast: "Vgf",
                 sp0: (-893.6952864609598, -906.7107830141476), spLast: (797.6089329223732, 866.308778126569),
                 row0: (44, [1, 2, 4], [1.6382746696472168, 21.29974937438965, 1.6382746696472168]),
                 xSum: 2703671.1889600423, midRowSum: 64.99427795410156,
                 labels: ("Cell_class", ["Ambiguous", "Astrocyte", "Endothelial 1", "Endothelial 2", "Endothelial 3",
                                         "Ependymal", "Excitatory", "Inhibitory", "Microglia", "OD Immature 1",
                                         "OD Immature 2", "OD Mature 1", "OD Mature 2", "OD Mature 3", "OD Mature 4",
                                         "Pericytes"],
                          [1543, 1402, 670, 104, 231, 2, 808, 3409, 274, 407, 17, 254, 1794, 10, 109, 128], 0)),
        Expected(file: "MOB_ST_stdeconvolve.h5ad", shape: (262, 15928), nnz: 1424275, isInteger: true,
                 obs0: "ACAACTATGGGTTGGCGG", obsLast: "TTTCTAACTCATAAGGAT", var0: "0610007N19Rik", varLast: "Zzz3",
                 sp0: (16.001, 16.036), spLast: (20.049, 13.047),
                 row0: (4248, [1, 3, 11], [1, 1, 1]), xSum: 4160648, midRowSum: 15214,
                 labels: ("layer", ["1: Granular Cell Layer", "2: Mitral Cell Layer", "3: Outer Plexiform Layer",
                                    "4: Glomerular Layer", "5: Olfactory Nerve Layer"], [66, 38, 59, 50, 47], 2)),
        Expected(file: "STARmap_mPFC_20180417_BZ5_control.h5ad", shape: (1049, 166), nnz: 53230, isInteger: true,
                 obs0: "69x4486", obsLast: "12261x1768", var0: "Acss1", varLast: "Drd1",
                 sp0: (68.86374443699323, 4486.02889715296), spLast: (12260.913588299918, 1768.3376132930514),
                 row0: (30, [4, 5, 6], [3, 3, 2]), xSum: 702301, midRowSum: 190,
                 labels: ("layer", ["L1", "L2/3", "L5", "L6"], [86, 167, 449, 347], 0)),
        Expected(file: "STARmap_mPFC_20180419_BZ9_control.h5ad", shape: (1053, 166), nnz: 40978, isInteger: true,
                 obs0: "44x5377", obsLast: "12140x1251", var0: "Acss1", varLast: "Drd1",
                 sp0: (43.624820439154526, 5377.364252000821), spLast: (12139.778374470721, 1250.8291851698855),
                 row0: (21, [7, 8, 10], [1, 1, 1]), xSum: 381683, midRowSum: 267,
                 labels: ("layer", ["L1", "L2/3", "L5", "L6"], [82, 115, 503, 353], 0)),
        Expected(file: "STARmap_mPFC_20180424_BZ14_control.h5ad", shape: (1088, 166), nnz: 54943, isInteger: true,
                 obs0: "47x2553", obsLast: "12271x5994", var0: "Acss1", varLast: "Drd1",
                 sp0: (47.487014019137234, 2552.7124646342627), spLast: (12271.376826052876, 5993.7353856386135),
                 row0: (31, [2, 3, 5], [4, 32, 3]), xSum: 483149, midRowSum: 966,
                 labels: ("layer", ["L1", "L2/3", "L5", "L6"], [34, 158, 435, 461], 0)),
        Expected(file: "VeraFISH_hippocampus.h5ad", shape: (10994, 120), nnz: 400188, isInteger: true,
                 obs0: "cell_1276", obsLast: "cell_10849", var0: "Sparcl1", varLast: "Egfr",
                 sp0: (-13372.89867200291, 15776.371475350192), spLast: (13790.10132799709, -16066.628524649808),
                 row0: (51, [0, 1, 2], [45, 17, 10]), xSum: 2370091, midRowSum: 429, labels: nil),
        Expected(file: "osmFISH_valid_cells.h5ad", shape: (4839, 33), nnz: 110647, isInteger: true,
                 obs0: "778", obsLast: "5462", var0: "Gad2", varLast: "Acta2",
                 sp0: (18171.230942376023, 24590.795274569497), spLast: (8621.864544779875, 23799.749752205516),
                 row0: (28, [0, 1, 3], [35, 41, 7]), xSum: 898778, midRowSum: 185,
                 labels: ("Region", ["Hippocampus", "Internal Capsule Caudoputamen", "Layer 2-3 lateral",
                                     "Layer 2-3 medial", "Layer 3-4", "Layer 4", "Layer 5", "Layer 6", "Pia Layer 1",
                                     "Ventricle", "White matter"],
                          [322, 106, 254, 549, 131, 1002, 295, 1015, 159, 129, 877], 0)),
    ]

    func testEveryDatasetLoads() throws {
        var checked = 0
        for e in Self.expected {
            let path = try SharedData.path("data/" + e.file)
            let reader = try AnnDataReader(path: path)
            XCTAssertEqual(reader.header.layout, .csr, e.file)
            XCTAssertEqual(reader.nObs, e.shape.0, e.file)
            XCTAssertEqual(reader.nVars, e.shape.1, e.file)
            XCTAssertEqual(reader.header.nnz, e.nnz, e.file)
            XCTAssertEqual(reader.header.isInteger, e.isInteger, e.file)

            let a = try reader.read()
            XCTAssertEqual(a.nObs, e.shape.0)
            XCTAssertEqual(a.nVars, e.shape.1)
            XCTAssertEqual(a.obsNames.first, e.obs0, e.file)
            XCTAssertEqual(a.obsNames.last, e.obsLast, e.file)
            XCTAssertEqual(a.varNames.first, e.var0, e.file)
            XCTAssertEqual(a.varNames.last, e.varLast, e.file)
            XCTAssertEqual(a.spatial.count, 2 * e.shape.0)
            XCTAssertEqual(a.spatial[0], e.sp0.0, e.file)
            XCTAssertEqual(a.spatial[1], e.sp0.1, e.file)
            XCTAssertEqual(a.spatial[2 * e.shape.0 - 2], e.spLast.0, e.file)
            XCTAssertEqual(a.spatial[2 * e.shape.0 - 1], e.spLast.1, e.file)

            let x = try XCTUnwrap(a.X)
            XCTAssertEqual(x.rows, e.shape.0)
            XCTAssertEqual(x.cols, e.shape.1)
            XCTAssertEqual(x.nnz, e.nnz, e.file)
            XCTAssertEqual(x.indptr[1], e.row0.nnz, e.file)
            XCTAssertEqual(Array(x.indices[0..<3]), e.row0.idx, e.file)
            XCTAssertEqual(Array(x.values[0..<3]), e.row0.val, e.file)
            let sum = x.values.reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(sum, e.xSum, accuracy: abs(e.xSum) * 1e-9 + 1e-3, e.file)
            let mid = e.shape.0 / 2
            let midSum = x.values[x.indptr[mid]..<x.indptr[mid + 1]].reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(midSum, e.midRowSum, accuracy: 1e-4, e.file)

            if let l = e.labels {
                guard case .categorical(let codes, let cats, let ordered)? = a.obs[l.column] else {
                    return XCTFail("\(e.file): obs[\(l.column)] is not categorical")
                }
                XCTAssertFalse(ordered)
                XCTAssertEqual(cats, l.categories, e.file)
                var counts = [Int](repeating: 0, count: cats.count)
                var missing = 0
                for c in codes { if c < 0 { missing += 1 } else { counts[Int(c)] += 1 } }
                XCTAssertEqual(counts, l.counts, e.file)
                XCTAssertEqual(missing, l.missing, e.file)
                XCTAssertEqual(a.obs[l.column]!.labels().filter { $0 == nil }.count, l.missing)
            }
            XCTAssertEqual(a.obs.skippedColumns, [], e.file)
            checked += 1
        }
        XCTAssertEqual(checked, Self.expected.count)
    }

    func testColumnKinds() throws {
        let merfish = try AnnDataReader.read(path: try SharedData.path("data/MERFISH_hypothalamus_animal1.h5ad"), includeX: false)
        XCTAssertEqual(merfish.obs.columnNames, ["Cell_name", "Cell_class", "Neuron_cluster_ID", "Animal_ID",
                                                 "Animal_sex", "Behavior", "z"])
        guard case .nullableInteger(let v, let m)? = merfish.obs["Animal_ID"] else { return XCTFail("Animal_ID") }
        XCTAssertEqual(v.first, 1)
        XCTAssertEqual(m.filter { $0 }.count, 0)
        guard case .numeric(let z)? = merfish.obs["z"] else { return XCTFail("z") }
        XCTAssertEqual(z.first, 0.26)
        XCTAssertEqual(z.last, 0.21)
        XCTAssertNil(merfish.X)
        guard case .categorical(let codes, let cats, _)? = merfish.obs["Cell_name"] else { return XCTFail("Cell_name") }
        XCTAssertEqual(cats.count, 11162)
        XCTAssertEqual(cats[Int(codes[0])], "6749ccb4-2ed1-4029-968f-820a287f43c8")

        let osm = try AnnDataReader.read(path: try SharedData.path("data/osmFISH_valid_cells.h5ad"), includeX: false)
        guard case .integer(let cid)? = osm.obs["ClusterID"] else { return XCTFail("ClusterID") }
        XCTAssertEqual(cid.first, 18)
        XCTAssertEqual(cid.last, 25)
        guard case .numeric(let size)? = osm.obs["size_um2"] else { return XCTFail("size_um2") }
        XCTAssertEqual(size.first, 257.348975)
        XCTAssertEqual(osm.obs.columnNames.count, 12)
        XCTAssertEqual(osm.obs["ClusterName"]?.labels().first, "Inhibitory CP")

        let vera = try AnnDataReader.read(path: try SharedData.path("data/VeraFISH_hippocampus.h5ad"), includeX: false)
        XCTAssertEqual(vera.obs.columnNames, [])
    }

    func testHeaderWithoutX() throws {
        let reader = try AnnDataReader(path: try SharedData.path("data/DLPFC_151676.h5ad"))
        let names = try reader.obsNames()
        XCTAssertEqual(names.count, 3460)
        XCTAssertEqual(try reader.varNames().count, 5000)
        XCTAssertEqual(try reader.spatial().count, 2 * 3460)
        let nnz = try reader.rowNNZ()
        XCTAssertEqual(nnz.count, 3460)
        XCTAssertEqual(nnz[0], 717)
        XCTAssertEqual(nnz.reduce(0, +), 2081803)
    }
}
