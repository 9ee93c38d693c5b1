"""lava-dl netx round trip on a trained MNIST model: ``snnc export netx``, then lava-dl's own
``netx.hdf5.Network`` run on Lava's fixed-point models, against the float64 reference interpreter
and snnc's integer model of the same file.

Prints one JSON object: accuracies (float reference, integer model, netx on Lava), prediction
agreement, and per block the spike counts, the elements where Lava's spikes differ from the
integer model's (0 means bit-exact) and the fraction of spike-train elements equal to the float
reference's.

    .venv/bin/python bench/netx_mnist.py --run out/netx/run --samples 500 --out out/netx/model.net
    .venv/bin/python bench/netx_mnist.py --run out/netx/run --samples 1000 --no-lava   # integer model only
"""
import argparse
import json
import time

import numpy as np

from snnc.backends.lava.netx_run import run_netx
from snnc.backends.netx import export_netx, quantize_input, run_fixed
from snnc.ir.interpret import run as ir_run
from snnc.passes.targets import prepare
from snnc.runtime.evaluate import model_data
from snnc.runtime.loader import batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="out/netx/run", help="run folder or .snnir of a trained model")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--out", default="out/netx/model.net", help="the netx file to write")
    ap.add_argument("--no-lava", action="store_true",
                    help="skip Lava: float reference and integer model only (minutes faster)")
    args = ap.parse_args()
    md = model_data(args.run)
    graph, _ = prepare(md.graph, "netx")
    pre, T = md.pre, md.pre.T
    x, y = md.dataset.test_x[:args.samples], md.dataset.test_y[:args.samples]
    xn = np.concatenate([xb.double().numpy() for xb, _ in batches(x, y, 100, shuffle=False,
                                                                  mean=pre.mean, std=pre.std)])
    # the normalised intensities span [(0 - mean) / std, (1 - mean) / std]
    m = np.asarray(pre.mean if pre.mean is not None else [0.0])
    s = np.asarray(pre.std if pre.std is not None else [1.0])
    input_max = float(np.max(np.abs(np.concatenate([(0 - m) / s, (1 - m) / s]))))
    res = export_netx(graph, args.out, input_max=input_max)
    t0 = time.perf_counter()
    trace = ir_run(graph, xn, T)
    float_s = time.perf_counter() - t0
    x_int = quantize_input(xn, res.input_scale)
    fixed = run_fixed(res.layers, x_int, T)
    ro = res.layers[-1]
    pred_float = trace.output.mean(0).argmax(-1)
    pred_fixed = fixed.v[ro.name][-1].argmax(-1)
    if args.no_lava:
        print(json.dumps({"model": str(args.run), "samples": int(len(y)), "T": T,
                          "accuracy": {"float_reference": float(np.mean(pred_float == y)),
                                       "integer_model": float(np.mean(pred_fixed == y))},
                          "prediction_agreement": {"integer_model_vs_float":
                                                   float(np.mean(pred_fixed == pred_float))}},
                         indent=1))
        return
    lava = run_netx(args.out, x_int, T, input_message_bits=res.input_message_bits,
                    record_v=(len(res.layers) - 1,))
    pred_lava = lava.v[len(res.layers) - 1][-1].argmax(-1)
    blocks = []
    for i, la in enumerate(res.layers[:-1]):
        got, want, ref = lava.spikes[i], fixed.spikes[la.name], trace.outputs[la.name]
        blocks.append({"block": la.name, "kind": la.kind, "neurons": int(np.prod(la.shape)),
                       "scale": la.scale, "exact": la.exact,
                       "lava_spikes": int(got.sum()), "integer_model_spikes": int(want.sum()),
                       "float_spikes": int(ref.sum()),
                       "lava_vs_integer_mismatches": int(np.count_nonzero(got != want)),
                       "lava_vs_float_equal_fraction": float(np.mean(got == ref))})
    readout_equal = bool(np.array_equal(lava.v[len(res.layers) - 1], fixed.v[ro.name]))
    print(json.dumps({
        "model": str(args.run), "file": args.out, "samples": int(len(y)), "T": T,
        "input_scale": res.input_scale, "input_max": input_max,
        "input_message_bits": res.input_message_bits,
        "accuracy": {"float_reference": float(np.mean(pred_float == y)),
                     "integer_model": float(np.mean(pred_fixed == y)),
                     "netx_lava": float(np.mean(pred_lava == y))},
        "prediction_agreement": {"netx_lava_vs_float": float(np.mean(pred_lava == pred_float)),
                                 "netx_lava_vs_integer_model": float(np.mean(pred_lava
                                                                             == pred_fixed))},
        "readout_v_bit_exact": readout_equal, "blocks": blocks,
        "lava_seconds": round(lava.seconds, 1), "float_reference_seconds": round(float_s, 1),
        "netx_table": lava.table.splitlines(),
    }, indent=1))


if __name__ == "__main__":
    main()
