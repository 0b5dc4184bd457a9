/* placeholder: being written */
typedef int slowtap_placeholder_report;
