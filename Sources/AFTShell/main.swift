import Engine
import Foundation
ensureFastBLASKernel()
let args = CommandLine.arguments
if args.count >= 4 && args[1] == "dev-logits" {
    let m = try LanguageModel(name: args[2])
    let ids = m.tokenizer.encode(args[3], addSpecial: true)
    let lg = m.transformer.logits(tokens: ids)
    let V = m.config.vocabSize
    print("ids", ids)
    for t in [0, ids.count - 1] { print("pos", t, Array(lg[t * V..<t * V + 5]), "max", lg[t * V..<(t + 1) * V].max()!) }
    print("load", m.loadSeconds)
}
