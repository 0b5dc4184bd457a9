/* placeholder: being written */
typedef int slowtap_placeholder_proto_stmt;
