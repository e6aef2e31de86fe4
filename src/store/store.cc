#include "store/store.h"

#include <future>

namespace capstan::store {

std::string prefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // whole key space: treated as "no end" by backends
}

Result<TxnResult> Store::txnSync(Txn t) {
  std::promise<Result<TxnResult>> p;
  auto f = p.get_future();
  txn(std::move(t), [&p](Result<TxnResult> r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace capstan::store
