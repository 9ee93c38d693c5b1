"""Genome texts the language must express: one per family, written as a person would (comments,
defaults spelled out, one-line bodies), not in canonical form."""

HEAD = 'snnc-genome 1\nname "{name}"\nT 4\ninput 3x32x32\nclasses 10\n'

# The STTS / TANet example of the genome design (every statement kind of v1).
STTS = """# comments run to end of line
snnc-genome 1                       # format version, must be the first statement
name "tanet-tiny-demo"
provenance "stts model=ba m=8 p=0.05 seed=3"   # optional, free text
T 4
input 3x32x32                       # shape per sample: CxHxW or F
classes 10
encoding direct                     # direct | rate   (default direct)
neuron lif tau=3 decay_input=false v_th=1 reset=hard
surrogate atan alpha=2

stage s1 node channels=96 stride=1 spiking=false   # encoding layer
stage s2 node channels=96
stage s3 graph nodes=32 channels=192 stride=2 conv=separable {
  0 -> 4
  0 -> 7 @1          # synaptic delay 1
  1 -> 4 @2
  back 9 -> 3 @1     # backward edge (later/same node -> earlier node), delay >= 1 required
  neuron lif tau=2   # per-block override of the default neuron
}
classifier head channels=1280 dropout=0.2 vote=0
"""

# SNASNet (forward and backward cell, REFERENCE-NOTES): ops on edges, a backward op with delay 1,
# the macro skeleton around the cell. One-line body as the design sketches it.
SNASNET = HEAD.format(name="snasnet-bw") + """neuron lif beta=0.25 alpha=0.75 detach_reset=true
cell c1 snasnet channels=128 { 0 -> 1 conv3x3
  0 -> 3 conv1x1
  back 2 -> 1 @1 conv3x3
  1 -> 2 skip }
skeleton snasnet cell=c1 hidden=1024 dropout=0.5 vote=10
"""

# BCNAS-SNN: ResNet-19 with global backward connections between LIF layers (ports).
RESNET = HEAD.format(name="resnet19-bc") + """neuron lif leak=0.5
surrogate triangle gamma=1
resnet r19 depth=19 channels=128 { back 7 -> 2 @1 }
classifier
"""

# SpikeDHS: a cell with inputs from the two previous cells (-2, -1) and layers with per-layer
# neuron and surrogate overrides (TPS / DGS / HNS).
DHS = HEAD.format(name="spikedhs-cla") + """neuron lif leak=0.2 v_th=0.5
surrogate dspike b=3
cell c3 dhs nodes=3 channels=144 { -2 -> 0 snn_b3
  -1 -> 1 snn_b5
  0 -> 2 skip }
layer l1 cell=c3 level=0
layer l4 cell=c3 level=2 { neuron alif leak=0.2 rho=0.2 v_th=0.5
  surrogate dspike b=4 }
layer l5 cell=c3 level=2 {
  neuron relu
}
"""

FAMILIES = {"stts": STTS, "snasnet": SNASNET, "resnet": RESNET, "dhs": DHS}
