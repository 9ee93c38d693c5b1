"""Genome texts used across the genome tests: one per family the language must express."""

HEAD = """snnc-genome 1
name "{name}"
T 4
input 3x32x32
classes 10
"""

STTS = HEAD.format(name="stts") + """provenance "stts model=ba n=8 m=2 p=0.05 seed=3"
encoding rate
neuron lif tau=3 decay_input=false v_th=1 reset=hard
surrogate atan alpha=2
stage s1 node channels=96 stride=1 spiking=false   # encoding layer
stage s2 node channels=96
stage s3 graph nodes=8 channels=192 stride=2 conv=separable {
  0 -> 4
  0 -> 7 @1          # synaptic delay
  1 -> 4 @2
  back 7 -> 3 @1
  neuron lif tau=2
}
classifier head channels=1280 dropout=0.2 vote=0
"""

SNASNET = HEAD.format(name="snasnet-bw") + """neuron lif tau=1.3333333333333333
surrogate atan alpha=2
cell c1 snasnet channels=128 {
  0 -> 1 conv3x3
  0 -> 3 conv1x1
  back 2 -> 1 @1 conv3x3
  1 -> 2 skip
  0 -> 2 avgpool3x3
}
skeleton snasnet stem=128 cell=c1 vote=10
"""

RESNET = HEAD.format(name="resnet19-bc") + """neuron lif leak=0.5 v_th=1
surrogate triangle gamma=1
resnet r19 depth=19 channels=128 {
  back 7 -> 2 @1
  back 16 -> 16 @1
}
"""

DHS = HEAD.format(name="spikedhs-cla") + """neuron lif leak=0.2 v_th=0.5
surrogate dspike b=3
cell c3 dhs nodes=3 channels=144 {
  -2 -> 0 snn_b3
  -1 -> 1 snn_b5
  0 -> 2 skip
  -1 -> 2 snn_b3
}
layer l1 cell=c3 level=0
layer l4 cell=c3 level=2 {
  neuron alif leak=0.2 rho=0.9 beta_a=1.8
  surrogate dspike b=4
}
"""

FAMILIES = {"stts": STTS, "snasnet": SNASNET, "resnet": RESNET, "dhs": DHS}
