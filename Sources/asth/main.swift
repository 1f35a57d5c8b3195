import Foundation
import GGUF
import Inference
import Ledger
import Personas
import Support
import Tokenizer

// The one exit boundary: every command throws, and only here do errors
// become a message on standard error and an exit code.
//   0 success · 1 usage or input error · 2 refused (budget, busy) · 3 verify failed

let code = Command.run(Array(CommandLine.arguments.dropFirst()))
flushOutput()
exit(code)
